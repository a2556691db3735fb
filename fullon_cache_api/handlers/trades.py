"""Trades endpoints."""
