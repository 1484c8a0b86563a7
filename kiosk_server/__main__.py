from kiosk_server.cli import main

raise SystemExit(main())
