//! The neutral render model of a request, for cards, DMs and status replies on any platform.
