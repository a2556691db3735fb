"""Bots endpoints."""
