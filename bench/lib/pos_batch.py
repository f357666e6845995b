#!/usr/bin/env python3
"""Bodies for POST /v1/pos/transactions, one JSON batch a line.

Usage: pos_batch.py CNICS_FILE SALES [BODIES]

Writes BODIES (default 1) lines to standard output, each a batch of SALES
sales by CNICs drawn from CNICS_FILE. Every sale of every line has its own
transaction id (a random run prefix, the line and the sale number), so each
line is a batch of first writes the first time it is sent and a replay
afterwards. `oha -D` sends one body again and again (replays); `oha -Z`
sends a random line each time.
"""
import json
import random
import sys
import uuid


def main():
    cnics = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    sales = int(sys.argv[2])
    bodies = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    run = uuid.uuid4().hex[:10]
    rng = random.Random(run)
    out = sys.stdout
    for b in range(bodies):
        batch = []
        for i in range(sales):
            batch.append({
                "transaction_id": f"b{run}-{b}-{i}",
                "store_id": f"USC-{rng.randrange(1, 5000):04d}",
                "terminal_id": f"T-{rng.randrange(1, 9)}",
                "cnic": rng.choice(cnics),
                "occurred_at": f"2025-06-{rng.randrange(1, 29):02d}T{rng.randrange(8, 21):02d}:{rng.randrange(60):02d}:00Z",
                "items": [
                    {"sku": "FLOUR-10KG", "category": "flour", "quantity": 1.0, "unit_price": 1250.0, "subsidy": 400.0},
                    {"sku": "GHEE-1KG", "category": "ghee", "quantity": float(rng.randrange(1, 4)),
                     "unit_price": 560.5, "subsidy": 100.0},
                ],
            })
        out.write(json.dumps({"transactions": batch}, separators=(",", ":")))
        out.write("\n")


if __name__ == "__main__":
    main()
