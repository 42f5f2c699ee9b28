#!/bin/sh
echo "$(cat /app/motd), $1!"
