"""Ohlcv endpoints."""
