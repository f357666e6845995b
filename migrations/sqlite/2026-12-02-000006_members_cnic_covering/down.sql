DROP INDEX members_cnic_household;
