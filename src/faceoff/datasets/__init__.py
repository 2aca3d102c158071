"""Readers for raw dataset formats and the compact prepared-array format."""
