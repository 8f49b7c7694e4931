"""The rules: pure functions over the index (reach queries, access evaluation, who may edit
a tenant, limits, audit records, usage arithmetic, page cursors, input validation). They
import the index and the records, never a store or the facade."""
