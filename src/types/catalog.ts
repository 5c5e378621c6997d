import type { GateMode } from "../lib/web-address.ts";

export interface System {
  id: number;
  name: string;
  host: string;
  /** Where the system's own web interface answers (an origin), or null. */
  webAddress: string | null;
  gateMode: GateMode;
  description: string;
  notes: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface SystemGroup {
  id: number;
  name: string;
  description: string;
  version: number;
  systemCount: number;
}

export interface Team {
  id: number;
  name: string;
  description: string;
  version: number;
  memberCount: number;
}
