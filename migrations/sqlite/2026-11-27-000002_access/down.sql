DROP TABLE pos_items;
DROP TABLE pos_transactions;
DROP TABLE grants;
DROP TABLE users;
DROP TABLE client_systems;
DROP TABLE organisations;
