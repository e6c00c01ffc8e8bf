"""Thin routes: parse the request, call a builder or a service, render or return JSON. No SQL here."""
