// Placeholder: helper H2 writes the real launcher script (this file is theirs).
