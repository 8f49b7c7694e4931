"""Runnable examples of tenancy: the hospital demo (``make demo``) and the framework recipes."""
