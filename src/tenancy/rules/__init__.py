"""The rules: pure functions over the index (reach queries, access evaluation, limits,
paging, validation). They import the index and the records, never a store or the facade."""
