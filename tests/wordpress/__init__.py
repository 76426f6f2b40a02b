"""The WordPress plugin against a real WordPress, MariaDB and Relatedly service (`make test-wordpress`)."""
