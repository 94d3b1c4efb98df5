"""PostgreSQL infrastructure for the write side: database location, the event
recorder with its same-transaction hooks, per-participant keys and the
encrypting mapper. Only this package and ``projections`` speak SQL."""
