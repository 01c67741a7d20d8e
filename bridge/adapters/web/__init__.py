"""The bridge's one web server: the HTTP listeners and what is common to every HTTP surface."""
