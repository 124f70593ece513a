"""Local emulators of the five provider APIs (SPEC §8)."""
