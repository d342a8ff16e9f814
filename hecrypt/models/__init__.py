"""Models scored on encrypted data (linear and logistic regression, networks)."""
