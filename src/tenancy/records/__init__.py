"""The records: the immutable data (model, grants), the change records and the snapshot.

Data only: these modules import the base (errors, ids) and each other, nothing above.
"""
