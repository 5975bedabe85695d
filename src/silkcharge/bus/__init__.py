"""Live events and command routing: in-process by default, Redis when scaled out."""
