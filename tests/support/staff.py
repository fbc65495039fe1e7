"""The password every staff member of the tests signs in with."""

PASSWORD = "correct horse battery staple"
