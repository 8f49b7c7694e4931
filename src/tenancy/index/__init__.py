"""The closure index: the group forest, the index's tables, its loader and the access
tables. It imports the records (and the base), nothing above. Its tables are private:
other modules read them through the interface of :mod:`tenancy.index.tables`."""
