"""The rep's pages own no tables: they are assembled from the other apps."""
