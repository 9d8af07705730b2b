"""Launching runs: one command attached to the lab, local pools, Ray and Slurm."""
