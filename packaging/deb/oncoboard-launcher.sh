#!/bin/sh
# /usr/bin/oncoboard: run the bundled Oncoboard in /opt/oncoboard.
exec /opt/oncoboard/oncoboard "$@"
