"""Events: independent coverage of one real-world event, above the copy-level stories."""
