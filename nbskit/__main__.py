from nbskit.cli import main

raise SystemExit(main())
