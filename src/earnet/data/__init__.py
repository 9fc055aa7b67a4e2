"""Retinal vessel datasets: loaders for the official downloads and users' folders."""
