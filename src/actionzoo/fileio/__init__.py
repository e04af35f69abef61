"""File primitives every other package uses: safe unpickling, atomic writes, text reading."""
