"""The catalogue: products that anyone browses and only their creator edits, with a cache."""
