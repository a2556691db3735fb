"""Processes endpoints."""
