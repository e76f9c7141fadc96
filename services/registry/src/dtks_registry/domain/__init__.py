"""The registry's pure core: no I/O, no framework. Decisions here are functions of their inputs."""
