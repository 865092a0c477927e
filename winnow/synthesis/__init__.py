"""The review's synthesis from an extraction table: evidence map, trends over years, dataset usage.

``stats`` holds the named methods (Wilson intervals, the Cochran–Armitage trend
test), ``datasets`` the name normalisation, ``build`` the tables, ``figures`` the PNGs.
"""
