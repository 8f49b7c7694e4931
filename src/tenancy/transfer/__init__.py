"""The interchange document: its schema, its canonical records and its streamed encoding
(pure: no I/O of its own, the caller hands it a file), and the import planner that
validates a document against the index. The handle's side is tenancy.handle.transfer."""

from tenancy.transfer.plan import ImportReport
from tenancy.transfer.schema import DOCUMENT_VERSION, document_schema

__all__ = ["DOCUMENT_VERSION", "ImportReport", "document_schema"]
