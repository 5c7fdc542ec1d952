"""The support family: first response and resolution times, FCR, reopens, backlog, volume."""
