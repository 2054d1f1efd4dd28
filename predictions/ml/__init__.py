"""MFDP's machine-learning code: schemas, reading tables, validating rows, inference, writing
results, training. It imports nothing of Django, so it is tested and benchmarked on its own.

Errors carry a stable `code`, English text and `params`; the Django layer translates them.
"""
