"""Boot test harness: boots the plan's user_data under real cloud-init and systemd."""
