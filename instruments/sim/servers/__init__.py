"""The transports the virtual bench serves on: TCP sockets (``tcp``) and serial ptys (``pty``)."""
