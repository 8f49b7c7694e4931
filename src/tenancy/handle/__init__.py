"""The facade (:class:`~tenancy.Tenancy`, ``tenancy.open``) and the tenant scope: the only
layer that ties the index and the rules to a store."""
