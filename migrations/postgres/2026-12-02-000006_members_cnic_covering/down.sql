DROP INDEX members_cnic;
CREATE UNIQUE INDEX members_cnic ON members (cnic);
