"""qdiff.tensornet (see its issue; filled in by its own module work)."""
