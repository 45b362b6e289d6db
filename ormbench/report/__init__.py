"""Human-readable reports of measured runs."""
