"""The HTTP side of `register`: routes and answers, request bodies, pages, and the defences of the form."""
