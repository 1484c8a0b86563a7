"""Hall screens and window LED strips: a client of the server's display stream that runs on its
own machine (it speaks the wire contract only). See README.md beside this file."""
