"""Research optimisers, as ``optax.contrib``: each in its own module, under the same
protocol as the core (``init``/``update``), with the same names, signatures and numbers
as optax.contrib where it has them."""

__all__: list[str] = []
