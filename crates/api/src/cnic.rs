//! The CNIC as the gateway accepts it: `12345-1234567-1` or 13 plain digits,
//! parsed once at the edge into a value inner code never re-checks.

use std::fmt;

/// A well-formed CNIC (13 digits, first digit a province code 1-9).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cnic([u8; 13]);

/// What is wrong with a CNIC string. Never echoes the input (it may be a real CNIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a CNIC is 13 digits written 12345-1234567-1 (or without dashes), the first digit 1-9")]
pub struct BadCnic;

impl Cnic {
    pub fn parse(s: &str) -> Result<Self, BadCnic> {
        let b = s.as_bytes();
        let digits: [u8; 13] = match b.len() {
            13 => b.try_into().map_err(|_| BadCnic)?,
            15 if b[5] == b'-' && b[13] == b'-' => {
                let mut d = [0u8; 13];
                d[..5].copy_from_slice(&b[..5]);
                d[5..12].copy_from_slice(&b[6..13]);
                d[12] = b[14];
                d
            }
            _ => return Err(BadCnic),
        };
        if !digits.iter().all(u8::is_ascii_digit) || digits[0] == b'0' {
            return Err(BadCnic);
        }
        Ok(Self(digits))
    }

    /// The 13 digits, as the store keeps them.
    pub fn digits(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Cnic {
    /// The dashed form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}-{}-{}", &d[..5], &d[5..12], &d[12..])
    }
}

impl fmt::Debug for Cnic {
    /// Never print a CNIC into a debug log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cnic(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_forms_and_nothing_else() {
        let a = Cnic::parse("35202-1234567-1").unwrap();
        let b = Cnic::parse("3520212345671").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digits(), "3520212345671");
        assert_eq!(a.to_string(), "35202-1234567-1");
        for bad in [
            "",
            "3520212345",
            "35202-1234567-12",
            "35202_1234567-1",
            "0520212345671",
            "3520212345a71",
            "３５２０２１２３４５６７１",
            "35202-1234567-",
            "35202123456-71",
            "3520212345671\n",
            " 3520212345671",
        ] {
            assert_eq!(Cnic::parse(bad), Err(BadCnic), "{bad:?}");
        }
    }
}
