"""The modelled schema, its factories, dataset profiles and the seeder."""
