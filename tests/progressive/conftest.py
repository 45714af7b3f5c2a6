"""The progressive-delivery tests import their helpers from this directory."""
