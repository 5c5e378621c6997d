export interface System {
  id: number;
  name: string;
  host: string;
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
