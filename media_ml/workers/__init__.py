"""How work is spread: a Dask client and the task functions workers run."""
